"""Hand-written twins of models/mlp.model, models/digits.model and an
Embedding -> bidirectional LSTM -> Linear text classifier (models/lstm_classifier.model)."""

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """64 features -> 128 -> 64 -> 10, batch norm and dropout (models/mlp.model)."""

    def __init__(self, in_features: int = 64, hidden: int = 128, num_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, hidden // 2)
        self.bn2 = nn.BatchNorm1d(hidden // 2)
        self.fc3 = nn.Linear(hidden // 2, num_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.relu(self.bn1(self.fc1(x))))
        x = self.relu(self.bn2(self.fc2(x)))
        return self.fc3(x)


class DigitsCNN(nn.Module):
    """Two 3x3 conv + batch norm layers, a max pool and two linear layers on 1x8x8 images."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(64, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))
        x = x.flatten(1)
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


class LSTMClassifier(nn.Module):
    """Token ids (B, T) -> Embedding -> bidirectional LSTM -> Linear class scores.

    ``output`` says which LSTM result feeds the classifier, as graphc's LSTM(output=...) does:
    "hidden" (final hidden state of both directions), "last" (last time step) or "sequence"."""

    def __init__(self, vocab_size=20_000, embed_dim=128, hidden_size=256, num_classes=2, num_layers=2,
                 bidirectional=True, output="hidden", padding_idx=0, dropout=0.2, fc_dropout=0.3):
        super().__init__()
        self.output = output
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout,
                            bidirectional=bidirectional)
        self.dropout = nn.Dropout(fc_dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        seq, (h_n, _) = self.lstm(self.embedding(tokens))
        if self.output == "hidden":
            h = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.lstm.bidirectional else h_n[-1]
        elif self.output == "last":
            h = seq[:, -1]
        else:
            h = seq
        return self.fc(self.dropout(h))
