/* `tandemctl backup ...`: backup-store commands that run in the client, needing no daemon.
 *
 *   tandemctl backup prune --from URL --volume VOL --keep-last N [--grace SECONDS]
 *                          [--settle SECONDS] [--no-wait] [--json]
 *                          [--endpoint URL] [--region R] [--encrypt-key-file FILE]
 * Contract: argv[0] is "backup". Returns the exit status: 0 done, 1 failed (one line on
 * stderr), 2 usage. */
#ifndef TANDEM_SHIP_BACKUP_CLI_H
#define TANDEM_SHIP_BACKUP_CLI_H

int backup_cli_main(int argc, char **argv);

#endif
