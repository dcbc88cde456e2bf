/*
 * list: an intrusive, circular, doubly-linked list (the Linux kernel's
 * shape). A struct list_node lives inside the listed object, so linking and
 * unlinking never allocate and cost O(1). A list with one fixed timeout per
 * entry, appended in time order, is also a deadline queue: the soonest
 * deadline is always at the front.
 */
#ifndef SHOUTD_LIST_H
#define SHOUTD_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

#define LIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

static inline void list_init(struct list_node *head)
{
    head->prev = head->next = head;
}

static inline bool list_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline void list_append(struct list_node *head, struct list_node *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void list_remove(struct list_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

#endif
