// A member of a consumer group on the new consumer protocol (KIP-848,
// group.protocol=consumer), from Kafka's own Java client, for groups_test.cc;
// run with Java 17's single-file source launcher and the Kafka jars'
// classpath (KafkaCluster::SpawnJava):
//
//   java GroupProtocolConsumer.java BOOTSTRAP GROUP TOPIC CLIENT_ID COUNT PARTITION=OFFSET...
//
// Subscribes to TOPIC, polls until it has received COUNT records, commits
// the given offsets (so the test knows the group's lag exactly), prints
// "committed" on stdout, then stays in the group, polling, until stdin
// closes; then leaves the group and exits 0.

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class GroupProtocolConsumer {
  public static void main(String[] args) throws Exception {
    final String topic = args[2];
    final int count = Integer.parseInt(args[4]);
    final Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    for (int i = 5; i < args.length; ++i) {
      final String[] kv = args[i].split("=");
      offsets.put(new TopicPartition(topic, Integer.parseInt(kv[0])),
                  new OffsetAndMetadata(Long.parseLong(kv[1])));
    }
    final Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("group.id", args[1]);
    props.put("client.id", args[3]);
    props.put("group.protocol", "consumer");
    props.put("enable.auto.commit", "false");
    props.put("auto.offset.reset", "earliest");
    props.put("key.deserializer", ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());

    // The consumer is not thread-safe: the reader of stdin only raises a flag.
    final AtomicBoolean stop = new AtomicBoolean(false);
    final Thread stdin = new Thread(() -> {
      try {
        while (System.in.read() >= 0) {
        }
      } catch (Exception e) {
        // Closed either way.
      }
      stop.set(true);
    });
    stdin.setDaemon(true);
    stdin.start();

    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      consumer.subscribe(List.of(topic));
      int received = 0;
      boolean committed = false;
      while (!stop.get()) {
        received += consumer.poll(Duration.ofMillis(100)).count();
        if (!committed && received >= count) {
          consumer.commitSync(offsets);
          committed = true;
          System.out.println("committed");
          System.out.flush();
        }
      }
    }
  }
}
