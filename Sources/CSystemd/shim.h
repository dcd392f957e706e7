// libsystemd's readiness and watchdog protocol (libsystemd-dev).
#include <systemd/sd-daemon.h>
