"""Reading orientation sets: discover, decode and probe, validate, crop."""
