"""Model families beyond TWGTM's own checkpoints: the public CatVTON (try-on) and TryOffAnyone (try-off) weights.

`profiles` maps each project's file onto an SD1.5-inpainting UNet and loads it; `sd_inpaint_sampler`,
`catvton`, `tryoffanyone` and `preprocess` sample them as the projects' published inference does;
`profile_pipeline` is the pipeline `twgtm.load_model(profile=...)` returns (with the task guard), and
`roundtrip` chains a try-off and a try-on model. `a2a/` is Any2AnyTryon on FLUX.1-dev.
"""
