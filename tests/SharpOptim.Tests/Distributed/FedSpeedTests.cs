using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class FedSpeedTests
{
    private static float[][] Run(FedSpeedOptions options) =>
        StreamingDiLoCoGolden.Run(StreamingDiLoCoGolden.Workers, 3, c =>
        {
            var (model, next) = StreamingDiLoCoGolden.Worker(c.Rank);
            return new FedSpeed(c, model, next, options);
        });

    private static FedSpeedOptions FromFixture(string section, double lamb, double rho, bool server)
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty(section);
        return new FedSpeedOptions
        {
            LocalSteps = s.GetProperty("local_steps").GetInt32(), Lr = s.GetProperty("lr").GetDouble(), LrDecay = s.GetProperty("decay").GetDouble(),
            WeightDecay = s.GetProperty("wd").GetDouble(), MaxGradNorm = s.GetProperty("max_norm").GetDouble(),
            ParticipationRate = s.GetProperty("rate").GetDouble(), Seed = s.GetProperty("seed").GetInt64(),
            Lamb = lamb, Rho = rho, ServerCorrection = server,
        };
    }

    [Fact]
    public void ThreeRoundsWithPartialParticipationMatchTheOfficialCodesReference()
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty("fedspeed");
        var participants = s.GetProperty("participants").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        for (int t = 0; t < participants.Length; t++)
            Assert.Equal(participants[t], FedSpeed.Participants(s.GetProperty("seed").GetInt64(), t, 4, s.GetProperty("rate").GetDouble()));
        var reported = Run(FromFixture("fedspeed", s.GetProperty("lamb").GetDouble(), s.GetProperty("rho").GetDouble(), server: true));
        var expected = s.GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
    }

    [Fact]
    public void NoProxNoAscentNoServerTermIsFedAvg()
    {
        var reported = Run(FromFixture("fedavg", lamb: 0, rho: 0, server: false));
        var expected = StreamingDiLoCoGolden.Root.GetProperty("fedavg").GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        InProcessWorld.Run(1, c =>
        {
            var (model, next) = StreamingDiLoCoGolden.Worker(0);
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new FedSpeed(c, model, next, new FedSpeedOptions { ParticipationRate = 0 }));
            Assert.Contains("ParticipationRate", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => new FedSpeed(c, model, next, new FedSpeedOptions { Rho = -1 }));
            Assert.Throws<ArgumentOutOfRangeException>(() => new FedSpeed(c, model, next, new FedSpeedOptions { MergeWeight = 2 }));
        });
        Assert.Throws<ArgumentOutOfRangeException>(() => FedSpeed.Participants(1, 0, 4, 1.5));
    }
}
