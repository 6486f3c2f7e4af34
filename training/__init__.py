"""TWGTM training: `python -m training.run --config training/configs/NAME.yaml [key=value ...]`.

Phased training (stage 1 inpainting + mask loss, stage 2 extended attention), with a VAE stage for
the from-scratch demo preset; accelerate runs the same command on CPU, one GPU or many.
Imports twgtm, never ComfyUI.
"""
