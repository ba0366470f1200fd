/**
 * The TypeScript half of the contract in wasm/abi.h: the module's exports as
 * a typed interface and the numeric constants both sides agree on. Keep this
 * file in step with the header; nothing else in src/ names a raw export.
 */

/** Raw exports of lwip.wasm. Pointers and handles are plain numbers. */
export interface LwipExports {
  readonly memory: WebAssembly.Memory;
  _initialize(): void;
  lw_init(seedLo: number, seedHi: number, memLimit: number): number;
  lw_timers_run(): number;
  lw_timers_next(): number;
  lw_buf_alloc(size: number): number;
  lw_buf_free(ptr: number): number;
  lw_debug_fail(): void;
  lw_stats(out: number): number;
  lw_set_max_connections(max: number): void;
  lw_set_mem_limit(limit: number): void;
  lw_set_tcp_buffers(wnd: number, sndbuf: number): void;
  lw_netif_add(ip4: number, prefix4: number, ip6: number, prefix6: number, mtu: number): number;
  lw_netif_remove(netif: number): number;
  lw_netif_input(netif: number, ptr: number, len: number): number;
  lw_input_reserve(lens: number, ptrs: number, count: number): number;
  lw_input_commit(netif: number, count: number): number;
  lw_tcp_listen(family: number, addr: number, port: number, backlog: number, flags: number): number;
  lw_tcp_syn_answer(handle: number, action: number): number;
  lw_netif_set_transparent(netif: number, on: number): number;
  lw_tcp_connect(
    family: number,
    addr: number,
    port: number,
    localAddr: number,
    localPort: number,
  ): number;
  lw_tcp_listener_close(handle: number): number;
  lw_tcp_mark_active(handle: number): number;
  lw_tcp_set_recv_enabled(handle: number, enabled: number): number;
  lw_tcp_write(handle: number, ptr: number, len: number): number;
  lw_tcp_shutdown_write(handle: number): number;
  lw_tcp_close(handle: number): number;
  lw_tcp_abort(handle: number): number;
  lw_tcp_set_nodelay(handle: number, on: number): number;
  lw_tcp_set_buffers(handle: number, wnd: number, sndbuf: number): number;
  lw_tcp_set_keepalive(
    handle: number,
    on: number,
    idleMs: number,
    intervalMs: number,
    count: number,
  ): number;
  lw_tcp_info(handle: number, out: number): number;
}

/** Error results (lwIP err_t values are passed through unchanged). */
export const LwErr = {
  MEM: -1,
  BUF: -2,
  TIMEOUT: -3,
  RTE: -4,
  INPROGRESS: -5,
  VAL: -6,
  WOULDBLOCK: -7,
  USE: -8,
  ALREADY: -9,
  ISCONN: -10,
  CONN: -11,
  IF: -12,
  ABRT: -13,
  RST: -14,
  CLSD: -15,
  ARG: -16,
  STALE: -100,
  STATE: -101,
  LIMIT: -102,
  BADARG: -103,
} as const;

/** Event kinds passed to js_event. */
export const LwEvent = {
  ACCEPT: 1,
  ACTIVE: 2,
  FIN: 3,
  WRITABLE: 4,
  TERMINATED: 5,
  SYN: 6,
} as const;

/** lw_tcp_listen flags and lw_tcp_syn_answer actions. */
export const LwListen = { TRANSPARENT: 1, HOLD_SYN: 2 } as const;
export const LwSyn = { ACCEPT: 1, REFUSE: 2, DROP: 3 } as const;

/** Reasons carried by LwEvent.TERMINATED (mirrors TerminationReason). */
export const LwReason = { CLOSE: 1, RESET: 2, ABORT: 3, DESTROYED: 4 } as const;

/** Causes carried by LwEvent.TERMINATED, for errno mapping. */
export const LwCause = {
  NONE: 0,
  REFUSED: 1,
  RESET: 2,
  TIMEOUT: 3,
  ABORTED: 4,
  NOROUTE: 5,
  CLOSED: 6,
  LOCAL: 7,
  ADDRINUSE: 8,
  NOMEM: 9,
  LIMIT: 10,
  ADDRNOTAVAIL: 11,
} as const;

/** Word offsets of lw_stats output. */
export const LwStat = {
  HEAP_BYTES: 0,
  HEAP_PEAK: 1,
  HEAP_REFUSED: 2,
  HANDLES: 3,
  CONNECTIONS: 4,
  PCB_ACTIVE: 5,
  PCB_LISTEN: 6,
  PCB_TIME_WAIT: 7,
  PCB_SYN_RCVD: 8,
  PCB_ESTABLISHED: 9,
  PCB_CLOSING: 10,
  PCB_SYN_SENT: 11,
  IN_PACKETS: 12,
  IN_DROPPED: 13,
  OUT_PACKETS: 14,
  REFUSED_LIMIT: 15,
  SYS_HEAP: 16,
  TCP_REXMIT: 17,
  TCP_DROPPED: 18,
  TCP_CHKERR: 19,
  REFUSED_MEMORY: 20,
  WORDS: 21,
} as const;

/** Word offsets of lw_tcp_info output. */
export const LwInfo = {
  STATE: 0,
  FAMILY: 1,
  LOCAL_PORT: 2,
  REMOTE_PORT: 3,
  LOCAL_IP: 4,
  REMOTE_IP: 8,
  SNDBUF: 12,
  SNDQUEUELEN: 13,
  RCV_WND: 14,
  SND_WND: 15,
  CWND: 16,
  MSS: 17,
  NRTX: 18,
  RETRANSMITS: 19,
  UNACKED: 20,
  FLAGS: 21,
  OPTIONS: 22,
  KEEP_IDLE: 23,
  KEEP_INTVL: 24,
  KEEP_CNT: 25,
  WND_MAX: 26,
  SNDBUF_MAX: 27,
  WORDS: 28,
} as const;

/** lwIP's enum tcp_state, by value. */
export const TCP_STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RCVD',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
] as const;
export type TcpStateName = (typeof TCP_STATE_NAMES)[number];

/**
 * What the imports report, queued while a WASM call is on the stack and
 * handled after it returns (imports never call back into WASM).
 */
export interface LwSink {
  event(kind: number, handle: number, a: number, b: number): void;
  /** Received bytes at [ptr, ptr+len) of WASM memory, valid during the call only: copy them. */
  recv(handle: number, ptr: number, len: number): void;
  /** A packet at [ptr, ptr+len) of WASM memory, valid during the call only: copy it. */
  output(netif: number, ptr: number, len: number): void;
  fatal(message: string): void;
  now(): number;
}
