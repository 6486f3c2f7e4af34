"""Model families beyond TWGTM's own checkpoints: profiles for public weights (CatVTON, TryOffAnyone)."""
