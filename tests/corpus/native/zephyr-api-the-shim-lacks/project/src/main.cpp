#include <kernel.h>
struct k_sem s;
int main() { k_sem_take(&s, K_FOREVER); return 0; }
