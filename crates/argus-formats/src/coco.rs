//! COCO instance segmentation (being written).
