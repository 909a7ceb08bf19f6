"""The differential run: the content checksum of every core, marts and snapshot table
after the whole pipeline ran on a generated world, to prove a change left behaviour as
it was (`python -m bench.differential --help`)."""
