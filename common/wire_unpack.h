/* wire_unpack.h - the payload decoder: one msgpack map -> one message struct.
 *
 * Private to common/wire*.c; wire.c checks the envelope and inflates
 * first. Walks the kind's layout table (wire_layout.h) for each key it
 * reads; unknown keys and extra tuple elements are skipped (forward
 * compatibility), nil counts as absent.
 *
 * Thread: the decoding thread; no global state. */
#ifndef CP_WIRE_UNPACK_H
#define CP_WIRE_UNPACK_H

#include "wire.h"
#include "wire_reader.h"

/* Decodes the payload map at r into m->u per m->kind's layout, then checks
 * required keys and the shared rules (cp__wire_validate). Strings are
 * never NULL afterwards (""). Returns 0 or a CP_E* code with the text in
 * r->e. */
int cp__wire_unpack_payload(cp__rd_t *r, cp_msg_t *m);

#endif
