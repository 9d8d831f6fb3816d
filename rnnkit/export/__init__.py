"""Export for TF Serving (`savedmodel`) and for TFLite on mobile (`tflite`)."""
