"""Pure domain logic: no boto3, no clock, no I/O. Time is always a parameter."""
