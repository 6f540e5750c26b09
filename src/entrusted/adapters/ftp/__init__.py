"""The FTPS server of the private backup space (P9), on pyftpdlib."""
