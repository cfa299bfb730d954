#!/usr/bin/python3
"""Generate golden classification reports with scikit-learn (Debian python3-sklearn).

Writes test/fixtures/sklearn/<case>.json, each holding the inputs (class indices and label
names), the options, sklearn's classification_report(output_dict=True), the text table and
every UndefinedMetricWarning message raised (in order, with warnings.simplefilter('always')).

Run from the repository root:  /usr/bin/python3 scripts/golden/sklearn_report.py
The TypeScript test (test/unit/evaluation-report.test.ts) matches every number to 1e-12 and
the text character for character.
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.metrics import classification_report, confusion_matrix

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'sklearn')


def noisy(rng, n, k, p_correct, weights=None):
    """y_true drawn from k classes (optionally weighted), y_pred = y_true with prob p_correct."""
    y_true = rng.choice(k, size=n, p=weights)
    wrong = rng.randint(0, k, size=n)
    keep = rng.rand(n) < p_correct
    y_pred = np.where(keep, y_true, wrong)
    return y_true.tolist(), y_pred.tolist()


def run_case(name, y_true, y_pred, labels, digits=2, mode='all', string_labels=False, zero_division='warn'):
    """mode 'all': labels=range(K), target_names=labels (what the app does: every project label).
    mode 'present': labels=None (sklearn's default: labels present in y_true or y_pred)."""
    y_true = [int(v) for v in y_true]
    y_pred = [int(v) for v in y_pred]
    kw = dict(digits=digits, zero_division=zero_division)
    if string_labels:
        yt = np.array([labels[i] for i in y_true], dtype=object)
        yp = np.array([labels[i] for i in y_pred], dtype=object)
        if mode == 'all':
            kw['labels'] = list(labels)
    else:
        yt, yp = np.array(y_true), np.array(y_pred)
        if mode == 'all':
            kw['labels'] = list(range(len(labels)))
            kw['target_names'] = list(labels)
        else:
            present = sorted(set(y_true) | set(y_pred))
            kw['target_names'] = [labels[i] for i in present]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = classification_report(yt, yp, output_dict=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        text = classification_report(yt, yp, output_dict=False, **kw)
    cm = confusion_matrix(np.array(y_true), np.array(y_pred), labels=list(range(len(labels))))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cm_norm = confusion_matrix(np.array(y_true), np.array(y_pred), labels=list(range(len(labels))), normalize='true')
    doc = {
        'name': name,
        'sklearn_version': sklearn.__version__,
        'numpy_version': np.__version__,
        'inputs': {
            'y_true': y_true, 'y_pred': y_pred, 'labels': list(labels),
            'digits': digits, 'mode': mode, 'zero_division': zero_division,
        },
        'output_dict': out,
        'text': text,
        'warnings': [str(w.message) for w in caught],
        'confusion_matrix': cm.tolist(),
        'confusion_matrix_normalized_true': np.nan_to_num(cm_norm).tolist(),
    }
    with open(os.path.join(OUT, name + '.json'), 'w', encoding='utf-8') as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write('\n')
    print(name, len(y_true), 'samples,', len(labels), 'labels,', len(doc['warnings']), 'warnings')


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(20240508)
    fashion = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
    letters = [c for c in 'ABCDEFGHIKLMNOPQRSTUVWXY']  # sign-language MNIST: no J, no Z

    yt, yp = noisy(rng, 57, 2, 0.8)
    run_case('binary', yt, yp, ['cat', 'dog'])

    yt, yp = noisy(rng, 613, 10, 0.85)
    run_case('ten_classes', yt, yp, fashion)
    run_case('ten_classes_digits4', yt, yp, fashion, digits=4)

    yt, yp = noisy(rng, 777, 24, 0.7, weights=(np.arange(24) + 5) / np.sum(np.arange(24) + 5))
    run_case('twentyfour_classes', yt, yp, letters)

    # a class that is never predicted: precision ill-defined -> 0.0 with warning
    yt, yp = noisy(rng, 120, 5, 0.75)
    yp = [v if v != 3 else (v + 1) % 5 for v in yp]
    run_case('no_predictions', yt, yp, ['a', 'b', 'c', 'd', 'e'])

    # a class with no support (never in y_true) but predicted: recall ill-defined
    yt, yp = noisy(rng, 90, 5, 0.6)
    yt = [v if v != 2 else 0 for v in yt]
    run_case('no_support', yt, yp, ['red', 'green', 'blue', 'cyan', 'magenta'])

    # a project label that is neither in y_true nor y_pred: sklearn prints 'micro avg', not 'accuracy'
    yt, yp = noisy(rng, 64, 4, 0.7)
    yt = [v if v != 3 else 1 for v in yt]
    yp = [v if v != 3 else 2 for v in yp]
    run_case('absent_label_all', yt, yp, ['one', 'two', 'three', 'four'])
    run_case('absent_label_present', yt, yp, ['one', 'two', 'three', 'four'], mode='present')

    # string labels with spaces, accents, non-BMP characters and a name longer than 'weighted avg'
    names = ['golden retriever puppy', 'café ☕', 'cat', 'zebra 🦓', 'Ångström']
    yt, yp = noisy(rng, 150, 5, 0.65)
    run_case('string_labels', yt, yp, names, string_labels=True)
    run_case('string_labels_digits4', yt, yp, names, digits=4, string_labels=True)

    # exact decimal ties (1/8, 3/8, 5/8 ...) exercise Python's round-half-even formatting
    yt = [0] * 8 + [1] * 8 + [2] * 8
    yp = [0] * 1 + [1] * 7 + [1] * 3 + [2] * 5 + [2] * 5 + [0] * 3
    run_case('rounding_ties', yt, yp, ['x', 'y', 'z'])
    run_case('rounding_ties_digits0', yt, yp, ['x', 'y', 'z'], digits=0)
    run_case('rounding_ties_digits1', yt, yp, ['x', 'y', 'z'], digits=1)

    # the docstring example and one where every prediction is a single class
    run_case('docstring', [0, 1, 2, 2, 2], [0, 0, 2, 2, 1], ['class 0', 'class 1', 'class 2'])
    run_case('single_prediction', [0, 1, 2, 1, 0, 2, 2], [1] * 7, ['p', 'q', 'r'])
    run_case('zero_division_1', [0, 1, 2, 1, 0, 2, 2], [1] * 7, ['p', 'q', 'r'], zero_division=1)
    run_case('zero_division_0', [0, 1, 2, 1, 0, 2, 2], [1] * 7, ['p', 'q', 'r'], zero_division=0)


if __name__ == '__main__':
    sys.exit(main())
