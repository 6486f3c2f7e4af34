"""The Any2AnyTryon nodes of the pack (FLUX.1-dev + LoRA on core Flux)."""
from .a2a_conditioning import TWGTMA2AConditioning, TWGTMA2ACropBack
from .a2a_patch import TWGTMA2APatchFlux

A2A_NODES = [TWGTMA2APatchFlux, TWGTMA2AConditioning, TWGTMA2ACropBack]
