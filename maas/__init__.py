"""maas: rural ridesharing matching service."""
