# tun/binding.gyp: builds tun.node, the native Linux TUN bridge (tun.c),
# with node-gyp and plain Node-API. `make tun` runs it; output in tun/build/.
{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["tun.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
