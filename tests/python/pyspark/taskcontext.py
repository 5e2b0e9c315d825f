"""pyspark.taskcontext stand-in (tests only): the class attributes and
class methods the real TaskContext has (Spark 3.x), which the worker fills
from the task header and cprof_pyspark hooks."""


class TaskContext(object):
    _taskContext = None
    _attemptNumber = None
    _partitionId = None
    _stageId = None
    _taskAttemptId = None
    _localProperties = None
    _resources = None
    _cpus = None

    def __new__(cls):
        taskContext = cls._taskContext
        if taskContext is not None:
            return taskContext
        cls._taskContext = taskContext = object.__new__(cls)
        return taskContext

    @classmethod
    def _getOrCreate(cls):
        if cls._taskContext is None:
            cls._taskContext = TaskContext()
        return cls._taskContext

    @classmethod
    def _setTaskContext(cls, taskContext):
        cls._taskContext = taskContext

    @classmethod
    def get(cls):
        return cls._taskContext

    def stageId(self):
        return self._stageId

    def partitionId(self):
        return self._partitionId

    def attemptNumber(self):
        return self._attemptNumber

    def taskAttemptId(self):
        return self._taskAttemptId

    def getLocalProperty(self, key):
        return self._localProperties.get(key, None)
