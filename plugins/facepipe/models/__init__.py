"""Decoding photos and the face models: detectors (MTCNN, Haar, HOG) and embedders
(dlib's ResNet, CLIP), run on onnxruntime, OpenCV and dlib. No database here."""
