"""Writes tiny ``.tflite`` files in TFLite's own flatbuffer layout, so the TFLite runner is tested on real files.

Only what a one-convolution model needs: Model, OperatorCode, SubGraph, Tensor, Operator with
Conv2DOptions, Buffer (field numbers from TensorFlow Lite's schema.fbs).
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np

CONV_2D = 3
CONV2D_OPTIONS = 1      # BuiltinOptions union tag
FLOAT32 = 0             # TensorType
PADDING_SAME = 0


def _int_vector(builder: flatbuffers.Builder, values) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(list(values)):
        builder.PrependInt32(int(value))
    return builder.EndVector()


def _offset_vector(builder: flatbuffers.Builder, offsets) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(list(offsets)):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _buffer(builder: flatbuffers.Builder, data: bytes) -> int:
    data_vector = builder.CreateByteVector(data) if data else None
    builder.StartObject(3)
    if data_vector is not None:
        builder.PrependUOffsetTRelativeSlot(0, data_vector, 0)
    return builder.EndObject()


def _tensor(builder: flatbuffers.Builder, shape, buffer_index: int, name: str) -> int:
    name_offset = builder.CreateString(name)
    shape_offset = _int_vector(builder, shape)
    builder.StartObject(8)
    builder.PrependUOffsetTRelativeSlot(0, shape_offset, 0)
    builder.PrependInt8Slot(1, FLOAT32, 0)
    builder.PrependUint32Slot(2, buffer_index, 0)
    builder.PrependUOffsetTRelativeSlot(3, name_offset, 0)
    return builder.EndObject()


def write_conv_model(path: str | Path, weights_ohwi: np.ndarray, bias: np.ndarray, height: int, width: int) -> Path:
    """A model: input (1, height, width, I) -> CONV_2D (SAME, stride 1) -> output (1, height, width, O)."""
    out_channels, kernel_h, kernel_w, in_channels = weights_ohwi.shape
    builder = flatbuffers.Builder(1024)
    buffers = [_buffer(builder, b""), _buffer(builder, b""),
               _buffer(builder, np.ascontiguousarray(weights_ohwi, "<f4").tobytes()),
               _buffer(builder, np.ascontiguousarray(bias, "<f4").tobytes()), _buffer(builder, b"")]
    tensors = [_tensor(builder, (1, height, width, in_channels), 1, "input"),
               _tensor(builder, weights_ohwi.shape, 2, "weights"),
               _tensor(builder, (out_channels,), 3, "bias"),
               _tensor(builder, (1, height, width, out_channels), 4, "output")]
    builder.StartObject(6)
    builder.PrependInt8Slot(0, PADDING_SAME, 0)
    builder.PrependInt32Slot(1, 1, 0)
    builder.PrependInt32Slot(2, 1, 0)
    builder.PrependInt32Slot(4, 1, 1)
    builder.PrependInt32Slot(5, 1, 1)
    options = builder.EndObject()
    op_inputs, op_outputs = _int_vector(builder, (0, 1, 2)), _int_vector(builder, (3,))
    builder.StartObject(6)
    builder.PrependUint32Slot(0, 0, 0)
    builder.PrependUOffsetTRelativeSlot(1, op_inputs, 0)
    builder.PrependUOffsetTRelativeSlot(2, op_outputs, 0)
    builder.PrependUint8Slot(3, CONV2D_OPTIONS, 0)
    builder.PrependUOffsetTRelativeSlot(4, options, 0)
    operator = builder.EndObject()
    tensor_vector, operator_vector = _offset_vector(builder, tensors), _offset_vector(builder, [operator])
    graph_inputs, graph_outputs = _int_vector(builder, (0,)), _int_vector(builder, (3,))
    graph_name = builder.CreateString("main")
    builder.StartObject(5)
    builder.PrependUOffsetTRelativeSlot(0, tensor_vector, 0)
    builder.PrependUOffsetTRelativeSlot(1, graph_inputs, 0)
    builder.PrependUOffsetTRelativeSlot(2, graph_outputs, 0)
    builder.PrependUOffsetTRelativeSlot(3, operator_vector, 0)
    builder.PrependUOffsetTRelativeSlot(4, graph_name, 0)
    subgraph = builder.EndObject()
    builder.StartObject(4)
    builder.PrependInt8Slot(0, CONV_2D, 0)
    builder.PrependInt32Slot(2, 1, 1)
    builder.PrependInt32Slot(3, CONV_2D, 0)
    opcode = builder.EndObject()
    opcodes, subgraphs = _offset_vector(builder, [opcode]), _offset_vector(builder, [subgraph])
    buffer_vector = _offset_vector(builder, buffers)
    description = builder.CreateString("choreo test model")
    builder.StartObject(8)
    builder.PrependUint32Slot(0, 3, 0)
    builder.PrependUOffsetTRelativeSlot(1, opcodes, 0)
    builder.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    builder.PrependUOffsetTRelativeSlot(3, description, 0)
    builder.PrependUOffsetTRelativeSlot(4, buffer_vector, 0)
    model = builder.EndObject()
    builder.Finish(model, file_identifier=b"TFL3")
    out = Path(path)
    out.write_bytes(bytes(builder.Output()))
    return out
