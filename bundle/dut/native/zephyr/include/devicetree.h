/* tinyrepro Zephyr shim: devicetree macros resolve to device names. */
#ifndef TINYREPRO_DEVICETREE_H_
#define TINYREPRO_DEVICETREE_H_
#define TINYREPRO_STR_(x) #x
#define TINYREPRO_STR(x) TINYREPRO_STR_(x)
/* A chosen node is named by its property; its label is that name as a string. */
#define DT_CHOSEN(prop) prop
#define DT_LABEL(node) TINYREPRO_STR(node)
#define DT_NODELABEL(label) label
#define DT_HAS_CHOSEN(prop) 1
#endif
