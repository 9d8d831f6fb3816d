"""tf.data building blocks shared by the apps (bucketing by length, padding statistics, video clips)."""
