/**
 * The pcap download: everything that crossed stack A's interface since the
 * last reset (both directions, so the whole conversation) as a classic
 * pcap file with raw-IP link type, which Wireshark and tshark open as is.
 * Timestamps are virtual time offset by the wall clock at reset. The
 * capture is held in page memory and stops growing at PCAP_LIMIT.
 */
import { PCAP_LIMIT, type App } from './app.js';
import { byId, formatBytes, setText } from './dom.js';

export class PcapDownload {
  readonly #app: App;
  readonly #info = byId('pcap-info');

  constructor(app: App) {
    this.#app = app;
    byId('pcap-download').addEventListener('click', () => this.download());
  }

  /** Saves the capture so far through a temporary object URL. */
  download(): void {
    const blob = this.#app.pcap.toBlob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `lwip-playground-seed${this.#app.seed}.pcap`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  render(): void {
    const w = this.#app.pcap;
    const full = w.size >= PCAP_LIMIT ? ' (full: later packets are not recorded)' : '';
    setText(this.#info, `${w.count} packets, ${formatBytes(w.size)}${full}`);
  }
}
