"""The recogniser network: a small CRNN (conv features → BiLSTM → per-column classes, CTC)."""

from __future__ import annotations

import torch
from torch import nn

from edge.plate.charset import NUM_CLASSES


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CRNN(nn.Module):
    """1×32×160 in, 40 columns × NUM_CLASSES logits out (column = 4 px of the line)."""

    def __init__(self, width: int = 1):
        super().__init__()
        c = [32 * width, 64 * width, 96 * width, 160 * width]
        self.features = nn.Sequential(
            *_block(1, c[0]), nn.MaxPool2d(2),                          # 16×80
            *_block(c[0], c[1]), nn.MaxPool2d(2),                       # 8×40
            *_block(c[1], c[2]), *_block(c[2], c[2]), nn.MaxPool2d((2, 1)),  # 4×40
            *_block(c[2], c[3]), *_block(c[3], c[3]), nn.MaxPool2d((2, 1)),  # 2×40
            nn.Conv2d(c[3], c[3], (2, 1), bias=False), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True),  # 1×40
        )
        self.rnn = nn.LSTM(c[3], 128, bidirectional=True, batch_first=True)
        self.head = nn.Linear(256, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2).permute(0, 2, 1)  # B×T×C
        f, _ = self.rnn(f)
        return self.head(f)  # B×T×K logits
