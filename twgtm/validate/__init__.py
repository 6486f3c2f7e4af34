"""The one validation layer: every value a user hands TWGTM (a ComfyUI node input, a CLI flag, a Python
argument) is checked here before any work starts, so bad input ends in an error, never in a picture.

Each refusal is a TWGTMError naming the input (the node and its input, the flag, the argument), what
was wrong, what is expected and what to do. The entry points call it once each:

- ComfyUI: `nodes/validation.py` wraps every node's `execute` and calls `check_node_inputs` with the
  node's own schema (combo options, min / max, types), so a new input is checked with no code here;
- CLI: `check_cli_arguments(args)` in `python -m twgtm`'s main, before anything loads;
- Python API and the batch path (evaluation over a data set, the demo): every pipeline's verbs
  (`twgtm.verbs.Pipeline`: TWGTM, CatVTON / TryOffAnyone, Any2AnyTryon) are wrapped once by `checked`,
  which runs `check_call` with the family's `call_rules()`; a pipeline on a device checks its memory
  (`check_model_fits`).

The vocabularies are twgtm.vocab's. docs/inputs.md lists what is refused and what is coerced.
Parts: `values` (numbers, names, prompts, devices), `tensors` (images, masks), `paths` (model
names, inputs, outputs), `calls` (a pipeline call, a node's inputs), `cli` (the flags).
"""
from .calls import CallRules, InputSpec, call_arguments, check_call, check_node_inputs, checked
from .cli import CLI_PATHS, CLI_UNCHECKED, check_cli_arguments, cli_rule
from .paths import check_existing_path, check_image_path, check_model_name, check_writable
from .tensors import (check_comfy_image, check_comfy_mask, check_image_size, check_mask, check_mask_present,
                      check_pixels)
from .values import (RULES, Choice, Number, Size, a2a_rules, check_choice, check_device, check_device_memory,
                     check_model_fits, check_number, check_prompt, check_size, check_text, check_value, device_memory)

__all__ = ["Number", "Choice", "Size", "RULES", "check_number", "check_choice", "check_value", "check_size",
           "check_text", "check_prompt", "check_device", "device_memory", "check_device_memory", "check_model_fits",
           "check_image_size", "check_pixels", "check_mask", "check_mask_present", "check_comfy_image",
           "check_comfy_mask", "check_model_name", "check_existing_path", "check_writable", "check_image_path",
           "a2a_rules", "CallRules", "call_arguments", "check_call", "checked", "InputSpec", "check_node_inputs",
           "CLI_PATHS", "CLI_UNCHECKED", "cli_rule", "check_cli_arguments"]
