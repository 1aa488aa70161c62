/* The product version, shown by --version, the control API and the CSI plugin. */
#ifndef TANDEM_VERSION_H
#define TANDEM_VERSION_H

#define TANDEM_VERSION "0.1.0"

#endif
