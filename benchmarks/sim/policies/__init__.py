"""The policies compared on the same world: each turns the morning's portfolio into contacts."""
