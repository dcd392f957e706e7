// libsystemd's readiness and watchdog protocol (libsystemd-dev).
#include <systemd/sd-daemon.h>
// The journal's native protocol (sd_journal_sendv), for structured log entries.
#include <systemd/sd-journal.h>
