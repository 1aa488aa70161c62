/* Control op volume.expand (ctl/expand_ctl.c). Control thread. */
#ifndef TANDEM_CTL_EXPAND_CTL_H
#define TANDEM_CTL_EXPAND_CTL_H

#include "ctl/ctl_server.h"

struct json_object *expand_ctl(struct registry *reg, const struct ctl_node_info *info,
                               struct json_object *req);

#endif
