"""The FlughafenDB data set: schema per dialect, deterministic flights and bookings, bulk loading."""
