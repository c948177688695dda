"""Typed views of moto's records, one module per service: what the rest of the local AWS reads of moto's state,
and the lookups and changes it makes. Only this package reaches moto's backends."""
