"""Mask-aware sequence layers; importing this package registers them for `.keras` loading.

    BidirectionalRNN        forward + backward LSTM/GRU/SimpleRNN, merge modes, both final states
    AttentionPooling        additive attention over time that honours the mask, can return its weights
    BahdanauAttention       additive attention of a query over a set of positions -> (context, weights)
    DropPath                the sum of parallel branches, each left out for some training examples (drop-path)
    FrameWise               a layer (a per-frame CNN) applied to every step, time folded into the batch
    LuongAttention          multiplicative (general / dot) attention over a set of positions -> (context, weights)
    MaskedGlobalPooling1D   masked mean / max / mean_max over time
    MaskFromLengths         a mask from per-row lengths
    NgramBag                a linear model of token ids and their known (or hashed) neighbouring pairs (bag of uni+bigrams)
    RevIN                   reversible instance normalization of forecasting windows (and its inverse)
    SegmentRNN              SegRNN: an RNN over segments of each channel, decoded in parallel per output segment

The functions they are built from (mask_from_lengths, masked_mean, masked_softmax, ...)
are in `rnnkit.masking`.
"""

from rnnkit.layers.attention_pooling import AttentionPooling
from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.bidirectional_rnn import BidirectionalRNN
from rnnkit.layers.drop_path import DropPath
from rnnkit.layers.frame_wise import FrameWise
from rnnkit.layers.luong_attention import LuongAttention
from rnnkit.layers.mask_from_lengths import MaskFromLengths
from rnnkit.layers.masked_global_pooling1d import MaskedGlobalPooling1D
from rnnkit.layers.ngram_bag import NgramBag, frequent_pairs
from rnnkit.layers.revin import RevIN
from rnnkit.layers.segment_rnn import SegmentRNN

__all__ = ["AttentionPooling", "BahdanauAttention", "BidirectionalRNN", "DropPath", "FrameWise", "LuongAttention", "MaskFromLengths", "MaskedGlobalPooling1D", "NgramBag", "RevIN", "frequent_pairs", "SegmentRNN"]
