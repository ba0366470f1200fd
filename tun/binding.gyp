# tun/binding.gyp: builds tun.node, the native Linux TUN bridge (addon.c, the
# Node-API side, over device.c, the device itself), with node-gyp and plain
# Node-API. `make tun` runs it; output in tun/build/.
{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["addon.c", "device.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
