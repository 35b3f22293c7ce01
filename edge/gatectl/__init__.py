"""gatectl: the field technician's CLI on the box (thin layer over the library)."""
