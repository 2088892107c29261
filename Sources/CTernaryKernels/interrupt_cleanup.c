// Files being written that must not outlive an interrupted process. The signal handler may only use
// async-signal-safe calls (unlink, signal, raise), so the paths live in fixed static slots filled
// before the handler can see them.
#include "CTernaryKernels.h"
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 16
#define PATH_BYTES 4096

static char paths[SLOTS][PATH_BYTES];
static atomic_int used[SLOTS];
static atomic_int installed;

static void on_signal(int sig) {
    for (int i = 0; i < SLOTS; i++)
        if (atomic_load(&used[i])) unlink(paths[i]);
    // Terminate as the signal would have: default action, raised again.
    signal(sig, SIG_DFL);
    raise(sig);
}

int tk_cleanup_register(const char *path) {
    size_t n = strlen(path);
    if (n >= PATH_BYTES) return -1;
    if (!atomic_exchange(&installed, 1)) {
        int signals[] = {SIGINT, SIGTERM, SIGHUP};
        for (int i = 0; i < 3; i++) {
            struct sigaction action;
            memset(&action, 0, sizeof action);
            action.sa_handler = on_signal;
            sigemptyset(&action.sa_mask);
            // Keep a handler the program installed itself (chat's Ctrl-C), or an ignored signal.
            struct sigaction old;
            if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) sigaction(signals[i], &action, NULL);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (atomic_load(&used[i]) == 0) {
            memcpy(paths[i], path, n + 1);
            if (atomic_compare_exchange_strong(&used[i], &expected, 1)) return i;
        }
    }
    return -1;
}

void tk_cleanup_unregister(int slot) {
    if (slot >= 0 && slot < SLOTS) atomic_store(&used[slot], 0);
}
