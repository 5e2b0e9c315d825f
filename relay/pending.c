/* pending.c - connections without complete headers yet, oldest evicted
 * first (pending.h). A FIFO of nodes in one array (free list), indexed by
 * wsi through an open-addressing map. Thread: service only. */
#include "pending.h"

#include <stdint.h>
#include <sys/ioctl.h>

#include "relay.h"
#include "rutil.h"

#define NIL UINT32_MAX
#define EVICT_SCAN 64   /* pending sockets looked at (FIONREAD) per eviction */

typedef struct pnode {
    struct lws *wsi;
    uint32_t    prev, next;   /* FIFO by creation; next = free list when unused */
} pnode_t;

static pnode_t   *nodes;
static uint32_t   cap_nodes, free_head = NIL, head = NIL, tail = NIL, count;
static cp__hmap_t idx;        /* (uintptr_t)wsi -> node + 1 */

static void unlink_node(uint32_t i)
{
    pnode_t *n = &nodes[i];
    if (n->prev != NIL)
        nodes[n->prev].next = n->next;
    else
        head = n->next;
    if (n->next != NIL)
        nodes[n->next].prev = n->prev;
    else
        tail = n->prev;
    cp__hmap_del(&idx, (uint64_t)(uintptr_t)n->wsi);
    n->wsi = NULL;
    n->next = free_head;
    free_head = i;
    count--;
    CP_STAT_SUB(pending_now, 1);
}

void cp__pending_add(struct lws *wsi)
{
    uint32_t max = (uint32_t)cp__relay.cfg.budget.max_pending;
    if (!max)
        return;
    while (count >= max && head != NIL) {
        /* the oldest that has nothing unread: a client whose request
         * waits in its socket (accepted in the same burst, not read yet)
         * is about to stop being pending; an idle or slowloris socket
         * whose bytes lws has read is not */
        uint32_t victim = head, i = head;
        for (int k = 0; k < EVICT_SCAN && i != NIL; k++, i = nodes[i].next) {
            int unread = 0;
            lws_sockfd_type fd = lws_get_socket_fd(nodes[i].wsi);
            if (fd < 0 || ioctl(fd, FIONREAD, &unread) || unread == 0) {
                victim = i;
                break;
            }
        }
        struct lws *old = nodes[victim].wsi;
        unlink_node(victim);
        CP_STAT_ADD(pending_evicted, 1);
        /* closed now, not at the next service: lws accepts a whole listen
         * queue in one loop, and its timeout list (walked on every accept)
         * must not keep the evicted ones meanwhile. Safe: `old` is idle,
         * not inside a callback of its own. */
        lws_set_timeout(old, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
    if (free_head == NIL) {
        uint32_t n = cap_nodes ? cap_nodes * 2 : 256;
        nodes = cp__xrealloc(nodes, n * sizeof *nodes);
        for (uint32_t i = n; i-- > cap_nodes;) {
            nodes[i].wsi = NULL;
            nodes[i].next = free_head;
            free_head = i;
        }
        cap_nodes = n;
    }
    uint32_t i = free_head;
    free_head = nodes[i].next;
    nodes[i] = (pnode_t){wsi, tail, NIL};
    if (tail != NIL)
        nodes[tail].next = i;
    else
        head = i;
    tail = i;
    count++;
    CP_STAT_ADD(pending_now, 1);
    *cp__hmap_slot(&idx, (uint64_t)(uintptr_t)wsi, 1) = i + 1;
}

void cp__pending_done(struct lws *wsi)
{
    if (!count)
        return;
    uint32_t *s = cp__hmap_slot(&idx, (uint64_t)(uintptr_t)wsi, 0);
    if (s && *s)
        unlink_node(*s - 1);
}
