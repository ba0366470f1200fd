/**
 * The control panel and the tables that go with it: opening connections,
 * sending text or bulk data, bulk transfers, link impairments, seed and
 * reset; the connection table (state, the connection model's flags
 * active / recvEnabled / writable, byte counts, what was received) with
 * per-connection actions (markActive, pause/resume receiving, send,
 * half-close, close, abort); the transfer table; the event log.
 *
 * Rows are created once per connection and updated in place every frame,
 * so a button never disappears under the pointer between press and release.
 */
import {
  defaultLinkSettings,
  describeLink,
  ECHO_PORT,
  DISCARD_PORT,
  type App,
  type ConnView,
  type LinkSettings,
  type Side,
  type Transfer,
} from './app.js';
import { byId, el, formatBytes, setText } from './dom.js';
import { transferPayload } from './payload.js';
import type { TimeControls } from './time.js';

const LINK_FIELDS: [keyof LinkSettings, string][] = [
  ['lossPercent', 'loss'],
  ['delayMs', 'delay'],
  ['jitterMs', 'jitter'],
  ['reorderPercent', 'reorder'],
  ['duplicatePercent', 'duplicate'],
  ['corruptPercent', 'corrupt'],
  ['bandwidthMbit', 'bandwidth'],
  ['queueKiB', 'queue'],
];

interface ConnRow {
  tr: HTMLTableRowElement;
  cells: Record<'state' | 'flags' | 'bytes' | 'sha' | 'text', HTMLTableCellElement>;
  buttons: Record<string, HTMLButtonElement>;
}

export class Controls {
  readonly #app: App;
  readonly #time: TimeControls;
  readonly #onError: (error: unknown) => void;
  readonly #connBody: HTMLTableSectionElement;
  readonly #transferBody: HTMLTableSectionElement;
  readonly #log: HTMLOListElement;
  readonly #linkStats: HTMLElement;
  readonly #rows = new Map<ConnView, ConnRow>();
  readonly #transferRows = new Map<Transfer, HTMLTableRowElement>();
  #version = -1;
  #bulkCount = 0;

  constructor(app: App, time: TimeControls, onError: (error: unknown) => void) {
    this.#app = app;
    this.#time = time;
    this.#onError = onError;
    this.#connBody = byId<HTMLTableElement>('conns').tBodies[0]!;
    this.#transferBody = byId<HTMLTableElement>('transfers').tBodies[0]!;
    this.#log = byId<HTMLOListElement>('log');
    this.#linkStats = byId('link-stats');

    this.#fillLinkInputs(app.linkSettings);
    byId<HTMLInputElement>('seed').value = String(app.seed);
    byId<HTMLInputElement>('auto-activate').checked = app.autoActivate;
    byId<HTMLInputElement>('close-on-eof').checked = app.closeOnEof;

    this.#on('open-conn', () =>
      app.connect(this.#from(), Number(byId<HTMLSelectElement>('conn-port').value)),
    );
    this.#on('bulk-transfer', () => app.startTransfer(this.#from(), this.#bulkBytes()));
    this.#on('apply-link', () => app.setLink(this.#readLinkInputs()));
    this.#on('default-link', () => this.#fillLinkInputs(defaultLinkSettings));
    this.#on('reset', () =>
      this.#time.exclusive(async () => {
        const seed = Number(byId<HTMLInputElement>('seed').value);
        if (!Number.isSafeInteger(seed) || seed < 0)
          throw new RangeError('seed: a non-negative integer');
        await app.reset(seed);
        this.#rows.clear();
        this.#transferRows.clear();
        this.#connBody.replaceChildren();
        this.#transferBody.replaceChildren();
      }),
    );
    byId<HTMLInputElement>('auto-activate').addEventListener('change', (e) => {
      app.autoActivate = (e.target as HTMLInputElement).checked;
    });
    byId<HTMLInputElement>('close-on-eof').addEventListener('change', (e) => {
      app.closeOnEof = (e.target as HTMLInputElement).checked;
    });
    this.#connBody.addEventListener('click', (e) => {
      const button = (e.target as Element).closest('button');
      const key = button?.closest('tr')?.dataset.conn;
      const cv = app.conns.find((c) => c.key === key);
      if (!button || !cv) return;
      this.#guard(() => this.#act(cv, button.dataset.action ?? ''));
    });
  }

  render(): void {
    const app = this.#app;
    for (const cv of app.conns) this.#updateRow(cv);
    for (const [cv, row] of this.#rows) {
      if (!app.conns.includes(cv)) {
        row.tr.remove();
        this.#rows.delete(cv);
      }
    }
    for (const t of app.transfers) this.#updateTransfer(t);
    const s = app.link.stats;
    const dir = (name: string, d: typeof s.ab) =>
      `${name}: ${d.sent} sent, ${d.delivered} delivered, ${d.dropped.loss} lost, ` +
      `${d.dropped.queue} queue drops, ${d.duplicated} duplicated, ${d.corrupted} corrupted, ${d.reordered} reordered`;
    setText(
      this.#linkStats,
      `${describeLink(app.linkSettings)}\n${dir('A → B', s.ab)}\n${dir('B → A', s.ba)}`,
    );
    if (app.version !== this.#version) {
      this.#version = app.version;
      const lines = app.log.slice(-80);
      this.#log.replaceChildren(
        ...lines.map((l) =>
          el('li', {}, el('span', { class: 'time' }, l.time.toFixed(3)), ' ', l.text),
        ),
      );
      this.#log.scrollTop = this.#log.scrollHeight;
    }
  }

  // ---- inputs ----

  #on(id: string, fn: () => unknown): void {
    byId(id).addEventListener('click', () => this.#guard(fn));
  }

  #guard(fn: () => unknown): void {
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(this.#onError);
    } catch (error) {
      this.#onError(error);
    }
  }

  #from(): Side {
    return byId<HTMLSelectElement>('conn-from').value === 'B' ? 'B' : 'A';
  }

  #bulkBytes(): number {
    const kib = Number(byId<HTMLInputElement>('bulk-kib').value);
    if (!(kib > 0 && kib <= 65536)) throw new RangeError('bulk size: 1 to 65536 KiB');
    return Math.round(kib * 1024);
  }

  #fillLinkInputs(s: LinkSettings): void {
    for (const [key, id] of LINK_FIELDS) byId<HTMLInputElement>(id).value = String(s[key]);
  }

  #readLinkInputs(): LinkSettings {
    const out = { ...defaultLinkSettings };
    for (const [key, id] of LINK_FIELDS) {
      const v = Number(byId<HTMLInputElement>(id).value);
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${id}: a number >= 0`);
      out[key] = v;
    }
    for (const key of [
      'lossPercent',
      'reorderPercent',
      'duplicatePercent',
      'corruptPercent',
    ] as const)
      if (out[key] > 100) throw new RangeError(`${key}: at most 100`);
    return out;
  }

  #act(cv: ConnView, action: string): void {
    const app = this.#app;
    switch (action) {
      case 'activate':
        return app.markActive(cv);
      case 'recv':
        return app.setRecvEnabled(cv, !cv.conn.recvEnabled);
      case 'text':
        return app.sendText(cv, byId<HTMLInputElement>('text').value + '\n');
      case 'bulk':
        return app.send(
          cv,
          transferPayload(app.seed, 100_000 + ++this.#bulkCount, this.#bulkBytes()),
        );
      case 'shut':
        return app.shutdownWrite(cv);
      case 'close':
        return app.gracefulClose(cv);
      case 'abort':
        return app.abort(cv);
    }
  }

  // ---- tables ----

  #updateRow(cv: ConnView): void {
    let row = this.#rows.get(cv);
    if (!row) {
      row = this.#createRow(cv);
      this.#rows.set(cv, row);
      this.#connBody.append(row.tr);
    }
    const c = cv.conn;
    const info = cv.info;
    row.tr.dataset.state = cv.state;
    row.tr.classList.toggle('ended', !c.alive);
    setText(row.cells.state, cv.ended ? `${cv.state} (${cv.ended})` : cv.state);
    const flags: [string, boolean][] = [
      ['active', c.active],
      ['recvEnabled', c.recvEnabled],
      ['writable', c.writable],
    ];
    for (const [i, [name, on]] of flags.entries()) {
      const badge = row.cells.flags.children[i] as HTMLElement;
      badge.classList.toggle('on', on);
      badge.dataset.on = String(on);
      badge.title = `${name}: ${on}`;
    }
    const inFlight = info && c.alive ? `, ${formatBytes(info.unacked)} unacked` : '';
    setText(
      row.cells.bytes,
      `in ${formatBytes(cv.rxBytes)} / out ${formatBytes(cv.txBytes)}` +
        (cv.queued ? `, ${formatBytes(cv.queued)} queued` : '') +
        inFlight,
    );
    setText(row.cells.sha, cv.rxSha256 ? cv.rxSha256.slice(0, 16) + '…' : cv.rxEOF ? '' : '—');
    row.cells.sha.title = cv.rxSha256 ?? '';
    setText(row.cells.text, cv.rxBinary ? '(binary data)' : cv.rxText.slice(-60));
    const b = row.buttons;
    const alive = c.alive;
    b.activate!.hidden = !(c.direction === 'accepted' && !c.active && alive);
    setText(b.recv!, c.recvEnabled ? 'Pause recv' : 'Resume recv');
    b.recv!.disabled = !alive;
    const canWrite = alive && !c.writeEnded && !cv.shutdownWhenDrained;
    b.text!.disabled = !canWrite;
    b.bulk!.disabled = !canWrite;
    b.shut!.disabled = !canWrite || !c.active;
    b.close!.disabled = !alive;
    b.abort!.disabled = !alive;
  }

  #createRow(cv: ConnView): ConnRow {
    const c = cv.conn;
    const endpoints =
      c.direction === 'outgoing'
        ? `→ ${c.peer.address}:${c.peer.port}`
        : `← ${c.peer.address}:${c.peer.port}`;
    const portName = (p: number) =>
      p === ECHO_PORT ? 'echo' : p === DISCARD_PORT ? 'discard' : String(p);
    const role = cv.role === 'client' ? `client of ${portName(c.peer.port)}` : `${cv.role} server`;
    const button = (action: string, text: string, title: string) =>
      el('button', { type: 'button', 'data-action': action, title }, text);
    const buttons = {
      activate: button(
        'activate',
        'markActive',
        'Accept ≠ established: let this accepted connection deliver data',
      ),
      recv: button(
        'recv',
        'Pause recv',
        'setRecvEnabled: pause or resume delivery (while paused, lwIP keeps one refused segment and drops later ones; the peer retransmits)',
      ),
      text: button('text', 'Send text', 'Write the text field, plus a newline'),
      bulk: button('bulk', 'Send bulk', 'Write the bulk size of bytes'),
      shut: button(
        'shut',
        'Half-close',
        'shutdownWrite: send FIN once queued bytes are written; reading goes on',
      ),
      close: button('close', 'Close', 'gracefulClose: FIN both ways'),
      abort: button('abort', 'Abort', 'abort: send RST now'),
    };
    const flags = el(
      'td',
      { class: 'flags' },
      el('span', { class: 'badge', 'data-flag': 'active' }, 'active'),
      el('span', { class: 'badge', 'data-flag': 'recvEnabled' }, 'recv'),
      el('span', { class: 'badge', 'data-flag': 'writable' }, 'writable'),
    );
    const cells = {
      state: el('td', { class: 'state' }),
      flags,
      bytes: el('td', { class: 'bytes' }),
      sha: el('td', { class: 'mono' }),
      text: el('td', { class: 'rxtext' }),
    };
    const tr = el(
      'tr',
      { 'data-conn': cv.key },
      el('td', { class: 'mono' }, cv.key),
      el('td', {}, role, el('br'), el('span', { class: 'muted' }, endpoints)),
      cells.state,
      cells.flags,
      cells.bytes,
      cells.sha,
      cells.text,
      el('td', { class: 'actions' }, ...Object.values(buttons)),
    );
    return { tr, cells, buttons };
  }

  #updateTransfer(t: Transfer): void {
    let tr = this.#transferRows.get(t);
    if (!tr) {
      tr = el(
        'tr',
        { class: 'transfer', 'data-id': t.id, 'data-size': t.size, 'data-sha256': t.sha256 },
        el('td', { class: 'num' }, String(t.id)),
        el('td', {}, `${t.from} → ${t.from === 'A' ? 'B' : 'A'} (${t.sender.key})`),
        el('td', { class: 'num' }, formatBytes(t.size)),
        el('td', { class: 'state' }),
        el('td', { class: 'mono', title: t.sha256 }, t.sha256.slice(0, 16) + '…'),
        el('td', { class: 'mono received-sha' }),
        el('td', { class: 'detail' }),
      );
      this.#transferRows.set(t, tr);
      this.#transferBody.append(tr);
    }
    const received = t.receiver?.rxBytes ?? 0;
    tr.dataset.state = t.state;
    tr.dataset.bytes = String(received);
    const got = t.receiver?.rxSha256;
    if (got) tr.dataset.receivedSha256 = got;
    setText(tr.cells[3]!, t.state);
    setText(tr.cells[5]!, got ? got.slice(0, 16) + '…' : '');
    tr.cells[5]!.title = got ?? '';
    setText(tr.cells[6]!, t.detail);
  }
}
