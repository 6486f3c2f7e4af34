"""Model families beyond TWGTM's own checkpoints: the public CatVTON (try-on) and TryOffAnyone (try-off) weights.

`profiles` maps each project's file onto an SD1.5-inpainting UNet; `sd_inpaint_sampler`, `catvton`,
`tryoffanyone` and `preprocess` sample them as the projects' published inference does;
`profile_sampler` is what `TWGTMPipeline` routes a profile model to (with the task guard), and
`roundtrip` chains a try-off and a try-on model. `a2a/` is Any2AnyTryon on FLUX.1-dev.
"""
