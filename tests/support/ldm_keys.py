"""Test helper: rename a diffusers UNet / VAE state dict to original LDM (CompVis) key names.

Written for the tests from the LDM layout (input_blocks / middle_block / output_blocks, encoder.down.i.block.j ...),
so that the loader, which uses diffusers' converters, is checked against an independent mapping.
"""
import re

RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
          "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str) -> str:
    head, tail = rest.split(".", 1)
    return f"{RESNET[head]}.{tail}"


def unet_to_ldm(state: dict, layers_per_block: int, up_has_attention: list) -> dict:
    """diffusers UNet2DConditionModel keys -> `model.diffusion_model.*` keys."""
    per = layers_per_block
    out = {}
    for key, value in state.items():
        if key.startswith("time_embedding.linear_1."):
            new = "time_embed.0." + key.rsplit(".", 1)[1]
        elif key.startswith("time_embedding.linear_2."):
            new = "time_embed.2." + key.rsplit(".", 1)[1]
        elif key.startswith("conv_in."):
            new = "input_blocks.0.0." + key.split(".", 1)[1]
        elif key.startswith("conv_norm_out."):
            new = "out.0." + key.split(".", 1)[1]
        elif key.startswith("conv_out."):
            new = "out.2." + key.split(".", 1)[1]
        elif m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = 1 + i * (per + 1) + j
            new = f"input_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"input_blocks.{(int(m[1]) + 1) * (per + 1)}.0.op.{m[2]}"
        elif m := re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key):
            kind, j, rest = m[1], int(m[2]), m[3]
            new = f"middle_block.{2 * j}.{_resnet(rest)}" if kind == "resnets" else f"middle_block.1.{rest}"
        elif m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = i * (per + 1) + j
            new = f"output_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            i = int(m[1])
            new = f"output_blocks.{i * (per + 1) + per}.{2 if up_has_attention[i] else 1}.conv.{m[2]}"
        else:
            raise KeyError(f"no LDM name for {key}")
        out["model.diffusion_model." + new] = value
    return out


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def vae_to_ldm(state: dict, num_blocks: int) -> dict:
    """diffusers AutoencoderKL keys -> `first_stage_model.*` keys (attention weights as 1×1 convs)."""
    out = {}
    for key, value in state.items():
        new = key
        if m := re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            side, kind, i, j, rest = m[1], m[2], int(m[3]), int(m[4]), m[5]
            level = i if kind == "down" else num_blocks - 1 - i
            new = f"{side}.{kind}.{level}.block.{j}.{_vae_resnet(rest)}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            new = f"decoder.up.{num_blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{_vae_resnet(m[3])}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)\.(weight|bias)", key):
            new = f"{m[1]}.mid.attn_1.{VAE_ATTN[m[2]]}.{m[3]}"
            if m[3] == "weight" and value.ndim == 2:
                value = value[:, :, None, None]  # Linear (C,C) -> 1×1 conv (C,C,1,1)
        elif m := re.match(r"(encoder|decoder)\.conv_norm_out\.(.*)", key):
            new = f"{m[1]}.norm_out.{m[2]}"
        out["first_stage_model." + new] = value
    return out
