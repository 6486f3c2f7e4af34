"""Model families beyond TWGTM's own checkpoints: profiles for public weights (CatVTON, TryOffAnyone) and
Any2AnyTryon on FLUX.1-dev (`a2a/`)."""
