#include "plugin.h"
const struct rpc_method node_methods[] = {{0}};
const size_t node_methods_n = 0;
