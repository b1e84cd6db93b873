/* Intrusive circular doubly linked list (the kernel's shape). */
#ifndef BH_LIST_H
#define BH_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct bh_list {
	struct bh_list *prev, *next;
};

#define bh_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void bh_list_init(struct bh_list *l)
{
	l->prev = l->next = l;
}

static inline bool bh_list_empty(const struct bh_list *l)
{
	return l->next == l;
}

/* A node not on any list points to itself (after bh_list_init or bh_list_del). */
static inline bool bh_list_linked(const struct bh_list *n)
{
	return n->next != n;
}

static inline void bh_list_add_tail(struct bh_list *head, struct bh_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void bh_list_add_head(struct bh_list *head, struct bh_list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static inline void bh_list_del(struct bh_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Move every node of src, in order, to the end of dst; src is left empty. */
static inline void bh_list_splice_tail(struct bh_list *dst, struct bh_list *src)
{
	if (bh_list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	bh_list_init(src);
}

static inline struct bh_list *bh_list_first(const struct bh_list *head)
{
	return bh_list_empty(head) ? NULL : head->next;
}

#define bh_list_for_each_safe(pos, tmp, head)                                              \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                   \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
