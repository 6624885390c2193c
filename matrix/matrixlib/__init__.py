"""Parts of the kernel matrix driver (stdlib only)."""
