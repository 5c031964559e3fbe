import ResourceModel

/// Real-world manifests, as kubectl would send them (JSON), with fields we do not model.
enum Manifests {
    static let deployment = """
    {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"app":"web"},
     "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\\"x\\":1}\\n"}},
     "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":0}},
      "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
       "spec":{"containers":[{"name":"nginx","image":"nginx:1.21","ports":[{"containerPort":80,"name":"http"}],
         "resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":1,"memory":"128Mi"}},
         "futureField":{"nested":[1,2.5,"x"]}}],
        "dnsConfig":{"options":[{"name":"ndots","value":"2"}]},"enableServiceLinks":false}}},
     "status":{}}
    """

    static let pod = """
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe-pod","namespace":"default","labels":{"app":"db"}},
     "spec":{"restartPolicy":"OnFailure","nodeSelector":{"disk":"ssd"},
      "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"preference":{"matchExpressions":[{"key":"gpu","operator":"Exists"}]}}]},
       "podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"kubernetes.io/hostname"}]}},
      "tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}],
      "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"db"}}}],
      "initContainers":[{"name":"init","image":"busybox","command":["sh","-c","true"]}],
      "containers":[{"name":"db","image":"postgres:16","env":[{"name":"A","value":"1"},
        {"name":"B","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"b"}}},
        {"name":"C","valueFrom":{"secretKeyRef":{"name":"sec","key":"c"}}},
        {"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}],
       "envFrom":[{"configMapRef":{"name":"cfg"}}],
       "ports":[{"containerPort":5432,"hostPort":15432,"protocol":"TCP"}],
       "volumeMounts":[{"name":"data","mountPath":"/var/lib/pg"},{"name":"cfg","mountPath":"/etc/cfg","readOnly":true}],
       "livenessProbe":{"exec":{"command":["pg_isready"]},"initialDelaySeconds":5},
       "readinessProbe":{"httpGet":{"path":"/healthz","port":8080}},
       "startupProbe":{"tcpSocket":{"port":5432},"failureThreshold":30},
       "securityContext":{"runAsUser":999,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}}],
      "volumes":[{"name":"data","emptyDir":{"medium":"Memory","sizeLimit":"1Gi"}},
       {"name":"cfg","configMap":{"name":"cfg","items":[{"key":"b","path":"b.txt"}],"defaultMode":420}},
       {"name":"sec","secret":{"secretName":"sec","defaultMode":256}},
       {"name":"host","hostPath":{"path":"/tmp","type":"Directory"}}],
      "priorityClassName":"high","hostAliases":[{"ip":"10.0.0.1","hostnames":["db"]}]}}
    """

    static let service = """
    {"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},
     "spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"},{"name":"https","port":443,"targetPort":8443}],
      "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10}},"ipFamilyPolicy":"SingleStack"}}
    """

    static let job = """
    {"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","namespace":"default"},
     "spec":{"backoffLimit":4,"podFailurePolicy":{"rules":[]},"template":{"spec":{"restartPolicy":"Never",
      "containers":[{"name":"pi","image":"perl:5.34","command":["perl","-Mbignum=bpi","-wle","print bpi(2000)"]}]}}}}
    """

    static let daemonSet = """
    {"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","namespace":"kube-system"},
     "spec":{"selector":{"matchLabels":{"name":"agent"}},"template":{"metadata":{"labels":{"name":"agent"}},
      "spec":{"tolerations":[{"operator":"Exists"}],"containers":[{"name":"agent","image":"agent:v1"}],"hostNetwork":true}}}}
    """

    static let configMap = """
    {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default"},"data":{"b":"hello","game.properties":"x=1\\ny=2"},
     "binaryData":{"blob":"AAEC"}}
    """

    static let secret = """
    {"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec","namespace":"default"},"type":"Opaque","data":{"c":"czNjcjN0"},
     "stringData":{"plain":"hi"}}
    """

    static let all: [String: String] = [
        "deployment": deployment, "pod": pod, "service": service, "job": job, "daemonSet": daemonSet, "configMap": configMap, "secret": secret,
    ]

    static func json(_ s: String) -> JSONValue {
        // justified: fixtures are constants checked by the round-trip test
        guard let v = try? JSONValue.parse(s) else { fatalError("bad fixture") }
        return v
    }
}
