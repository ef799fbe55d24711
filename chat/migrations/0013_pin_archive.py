from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0012_model_supplied_by_client'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='pinned',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='conversation',
            name='archived',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
