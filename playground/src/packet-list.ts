/**
 * The live packet list: one table row per packet sent on the link, with its
 * virtual time, direction, tcpdump-like summary and fate (delivered, lost,
 * duplicated, corrupted, reordered; retransmissions marked), filtered to all
 * packets, retransmissions only, or losses only.
 *
 * The list holds the packet log's most recent records (PacketLog.keep) with
 * a counter of the total. Only the rows in view exist in the page:
 * - following (the default), the page holds just the newest rows that fit,
 *   so a redraw during a bulk transfer is a few dozen text updates and never
 *   touches the scroll position;
 * - scrolling up (wheel, keys, or unticking "follow") switches to a virtual
 *   scroller over the whole list: spacer rows stand for the rows out of
 *   view, and the rows in view stay put while new packets arrive. Scrolling
 *   back to the bottom follows again.
 */
import { describePacket } from '../../src/index.js';
import type { App } from './app.js';
import { byId, el, setText } from './dom.js';
import type { PacketLog, PacketRecord } from './packet-log.js';

type Filter = 'all' | 'retx' | 'dropped';

const DEFAULT_ROW_HEIGHT = 18;

export class PacketList {
  readonly #app: App;
  readonly #table: HTMLTableElement;
  readonly #body: HTMLTableSectionElement;
  readonly #scroller: HTMLElement;
  readonly #count: HTMLElement;
  readonly #filterSelect: HTMLSelectElement;
  readonly #followBox: HTMLInputElement;
  readonly #top = spacer();
  readonly #bottom = spacer();
  readonly #rows: HTMLTableRowElement[] = [];
  #filter: Filter = 'all';
  #follow = true;
  /** Not following: the number of the packet at the top of the view. */
  #anchor = 0;
  #rowHeight = 0;
  #viewport = 0;
  /** A scroll position we set ourselves: its scroll event is not the user's. */
  #ownScroll: number | undefined;
  #drawn = { log: undefined as PacketLog | undefined, version: -1, key: '' };

  constructor(app: App) {
    this.#app = app;
    this.#table = byId<HTMLTableElement>('packets');
    this.#body = this.#table.tBodies[0]!;
    this.#scroller = byId('packets-scroll');
    this.#count = byId('packet-count');
    this.#filterSelect = byId<HTMLSelectElement>('packet-filter');
    this.#followBox = byId<HTMLInputElement>('packet-follow');
    this.#body.append(this.#top, this.#bottom);
    this.#filterSelect.addEventListener('change', () => {
      this.#filter = this.#filterSelect.value as Filter;
      this.render();
    });
    this.#followBox.addEventListener('change', () => this.#setFollow(this.#followBox.checked));
    this.#scroller.addEventListener(
      'wheel',
      (e) => {
        if (!this.#follow || e.deltaY >= 0) return;
        e.preventDefault();
        this.#setFollow(false, e.deltaY);
      },
      { passive: false },
    );
    this.#scroller.addEventListener('keydown', (e) => {
      if (this.#follow && ['ArrowUp', 'PageUp', 'Home'].includes(e.key)) this.#setFollow(false);
    });
    this.#scroller.addEventListener('scroll', () => {
      const s = this.#scroller;
      const own = this.#ownScroll;
      this.#ownScroll = undefined;
      if (this.#follow || (own !== undefined && Math.abs(s.scrollTop - own) < 1)) return;
      if (s.scrollTop + s.clientHeight >= s.scrollHeight - 2) {
        this.#setFollow(true);
        return;
      }
      const list = this.#list(this.#app.packets);
      const first = Math.min(list.length - 1, Math.floor(s.scrollTop / this.#rowHeight));
      this.#anchor = list[Math.max(0, first)]?.n ?? 0;
      this.render();
    });
    window.addEventListener('resize', () => (this.#viewport = 0));
  }

  render(): void {
    const log = this.#app.packets;
    if (this.#viewport === 0) this.#viewport = this.#scroller.clientHeight;
    const rowHeight = this.#rowHeight || DEFAULT_ROW_HEIGHT;
    const list = this.#list(log);
    // Rows that fit under the sticky header (which is about one row high).
    const fit = Math.max(1, Math.floor(this.#viewport / rowHeight) - 1);
    const last = Math.max(0, list.length - fit);
    const first = this.#follow ? last : Math.min(last, indexOf(list, this.#anchor));
    const key = `${this.#filter}:${this.#follow}:${first}`;
    const d = this.#drawn;
    if (d.log === log && d.version === log.version && d.key === key) return;
    Object.assign(d, { log, version: log.version, key });

    const shown = Math.min(this.#follow ? fit : fit + 2, list.length - first);
    while (this.#rows.length < shown) {
      const tr = row();
      this.#rows.push(tr);
      this.#body.insertBefore(tr, this.#bottom);
    }
    for (let i = 0; i < this.#rows.length; i++) {
      const tr = this.#rows[i]!;
      const r = list[first + i];
      tr.hidden = i >= shown || !r;
      if (!tr.hidden) fill(tr, r!);
    }
    setHeight(this.#top, this.#follow ? 0 : first * rowHeight);
    setHeight(this.#bottom, this.#follow ? 0 : (list.length - first - shown) * rowHeight);
    this.#table.dataset.rows = String(list.length);
    setText(
      this.#count,
      `${log.total} packets, ${log.retransmissions} retransmitted, ${log.dropped} dropped` +
        (log.total > log.records.length ? ` (the list keeps the last ${log.records.length})` : ''),
    );
    this.#count.dataset.total = String(log.total);
    if (this.#rowHeight === 0 && shown > 0) {
      this.#rowHeight = this.#rows[0]!.getBoundingClientRect().height || DEFAULT_ROW_HEIGHT;
      this.#drawn.key = ''; // redraw with the real height
    }
    if (!this.#follow) {
      const top = first * rowHeight;
      // Keep the anchored rows in view when older records were dropped from the list.
      if (Math.abs(this.#scroller.scrollTop - top) >= rowHeight) {
        this.#scroller.scrollTop = top;
        this.#ownScroll = this.#scroller.scrollTop;
      }
    }
  }

  #setFollow(follow: boolean, scrollBy = 0): void {
    if (follow === this.#follow) return;
    this.#follow = follow;
    this.#followBox.checked = follow;
    const list = this.#list(this.#app.packets);
    if (!follow) {
      const rowHeight = this.#rowHeight || DEFAULT_ROW_HEIGHT;
      const fit = Math.max(1, Math.floor(this.#viewport / rowHeight) - 1);
      const first = Math.max(0, list.length - fit + Math.floor(scrollBy / rowHeight));
      this.#anchor = list[first]?.n ?? 0;
    }
    this.render();
    if (follow) this.#scroller.scrollTop = 0;
  }

  #list(log: PacketLog): readonly PacketRecord[] {
    if (this.#filter === 'retx') return log.records.filter((r) => r.retx);
    if (this.#filter === 'dropped') return log.records.filter((r) => r.status === 'dropped');
    return log.records;
  }
}

/** Index of the first record numbered >= n (records are in number order). */
function indexOf(list: readonly PacketRecord[], n: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.n < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function spacer(): HTMLTableRowElement {
  return el('tr', { class: 'spacer', hidden: true }, el('td', { colspan: 6 }));
}

function setHeight(spacerRow: HTMLTableRowElement, px: number): void {
  const td = spacerRow.cells[0]!;
  const h = `${px}px`;
  if (td.style.height !== h) td.style.height = h;
  spacerRow.hidden = px === 0;
}

function row(): HTMLTableRowElement {
  return el(
    'tr',
    { class: 'pkt' },
    el('td', { class: 'num' }),
    el('td', { class: 'num' }),
    el('td', {}),
    el('td', { class: 'summary' }),
    el('td', { class: 'num' }),
    el('td', { class: 'status' }),
  );
}

/** Summaries are computed once per record and kept with it. */
const summaries = new WeakMap<PacketRecord, string>();

function fill(tr: HTMLTableRowElement, r: PacketRecord): void {
  let summary = summaries.get(r);
  if (summary === undefined) {
    summary = r.parsed ? describePacket(r.parsed) : `unparseable (${r.length} bytes)`;
    summaries.set(r, summary);
  }
  const c = tr.cells;
  setText(c[0]!, String(r.n));
  setText(c[1]!, r.time.toFixed(3));
  setText(c[2]!, r.dir === 'ab' ? 'A → B' : 'B → A');
  setText(c[3]!, summary);
  if (c[3]!.title !== summary) c[3]!.title = summary;
  setText(c[4]!, String(r.length));
  const tags: string[] = [];
  if (r.retx) tags.push('retx');
  if (r.status === 'flight') tags.push('in flight');
  else if (r.status === 'dropped')
    tags.push(r.reason === 'loss' ? 'lost' : `dropped (${r.reason})`);
  else tags.push(r.copies > 1 ? `delivered ×${r.copies}` : 'delivered');
  if (r.corrupted) tags.push('corrupted');
  if (r.reordered) tags.push('reordered');
  setText(c[5]!, tags.join(', '));
  const data = tr.dataset;
  if (data.n !== String(r.n)) {
    data.n = String(r.n);
    data.dir = r.dir;
  }
  if (data.status !== r.status) data.status = r.status;
  if (r.retx !== (data.retx === '1')) {
    if (r.retx) data.retx = '1';
    else delete data.retx;
    tr.classList.toggle('retx', r.retx);
  }
  tr.classList.toggle('dropped', r.status === 'dropped');
  tr.classList.toggle('corrupted', r.corrupted);
}
