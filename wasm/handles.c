/*
 * wasm/handles.c: the handle table. JavaScript never sees a pcb pointer;
 * it holds handles (slot + 1 in bits 0..19, generation in bits 20..30),
 * and a handle whose generation does not match its slot is stale.
 */
#include <stdlib.h>
#include <string.h>

#include "glue.h"

#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define GEN_MASK 0x7FFu
#define MAX_SLOTS (SLOT_MASK - 1)

static struct lw_entry *table;
static uint32_t capacity;
static uint32_t used; /* slots ever handed out (high-water mark) */
static int32_t free_head = -1;
static uint32_t live[3];

int32_t lw_handle_new(uint8_t kind, struct tcp_pcb *pcb) {
  uint32_t slot;
  if (free_head >= 0) {
    slot = (uint32_t)free_head;
    free_head = table[slot].next_free;
  } else {
    if (used == capacity) {
      uint32_t grown = capacity ? capacity * 2 : 256;
      if (grown > MAX_SLOTS) grown = MAX_SLOTS;
      if (grown <= capacity) return LW_ERR_LIMIT;
      struct lw_entry *t = realloc(table, grown * sizeof *t);
      if (!t) return LW_ERR_LIMIT;
      memset(t + capacity, 0, (grown - capacity) * sizeof *t);
      table = t;
      capacity = grown;
    }
    slot = used++;
  }
  struct lw_entry *e = &table[slot];
  uint16_t gen = (uint16_t)((e->gen + 1) & GEN_MASK);
  if (gen == 0) gen = 1;
  memset(e, 0, sizeof *e);
  e->gen = gen;
  e->kind = kind;
  e->pcb = pcb;
  e->next_free = -1;
  live[kind]++;
  return (int32_t)(((uint32_t)gen << SLOT_BITS) | (slot + 1));
}

struct lw_entry *lw_handle_get(int32_t handle) {
  if (handle <= 0) return NULL;
  uint32_t slot = ((uint32_t)handle & SLOT_MASK) - 1;
  uint32_t gen = ((uint32_t)handle >> SLOT_BITS) & GEN_MASK;
  if (slot >= used) return NULL;
  struct lw_entry *e = &table[slot];
  if (e->kind == LW_KIND_FREE || e->gen != gen) return NULL;
  return e;
}

struct lw_entry *lw_handle_at(uint32_t slot) {
  return slot < used && table[slot].kind != LW_KIND_FREE ? &table[slot] : NULL;
}

uint32_t lw_handle_slots(void) { return used; }

int32_t lw_handle_of(const struct lw_entry *e) {
  uint32_t slot = (uint32_t)(e - table);
  return (int32_t)(((uint32_t)e->gen << SLOT_BITS) | (slot + 1));
}

void lw_handle_release(int32_t handle) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e) return;
  live[e->kind]--;
  e->kind = LW_KIND_FREE;
  e->pcb = NULL;
  e->next_free = free_head;
  free_head = (int32_t)(e - table);
}

uint32_t lw_handle_count(uint8_t kind) { return kind < 3 ? live[kind] : 0; }
