from django.db import migrations, models


class Migration(migrations.Migration):
    """Every vector records the engine and precision that computed it; the rows stored
    before were all computed by TensorFlow in fp32."""

    dependencies = [("vision", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="imagefeature",
            name="engine",
            field=models.CharField(default="tensorflow", max_length=20),
        ),
        migrations.AddField(
            model_name="imagefeature",
            name="precision",
            field=models.CharField(default="fp32", max_length=10),
        ),
    ]
